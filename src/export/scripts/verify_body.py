def read_output(name, dtype, shape):
    """The device's output `name` as float64, or None (with the reason printed) when its size is wrong."""
    path = os.path.join(ROOT, "output", name + ".bin")
    with open(path, "rb") as f:
        data = f.read()
    count = int(np.prod(shape, dtype=np.int64))
    if len(data) != count * ELEM_BYTES[dtype]:
        print("%s: %d bytes, expected %d (%s %s)" % (path, len(data), count * ELEM_BYTES[dtype], dtype, shape))
        return None
    return from_device_bytes(data, dtype, shape).astype(np.float64).ravel()


def check(name, dtype, shape):
    """The number of elements of output `name` beyond tolerance (moge's rule: element i passes when
    |got - expected| <= allowed[i]; NaN matches only NaN, an infinity only itself, and an infinite
    allowed value, an overflow-dependent sum, matches anything)."""
    count = int(np.prod(shape, dtype=np.int64))
    got = read_output(name, dtype, shape)
    if got is None:
        return max(count, 1)
    expected = np.load(os.path.join(ROOT, "data", name + ".golden.npy")).astype(np.float64).ravel()
    allowed = np.load(os.path.join(ROOT, "data", name + ".allowed.npy")).astype(np.float64).ravel()
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(got) & np.isfinite(expected)
        close = finite & (np.abs(got - expected) <= allowed)
        same_nan = np.isnan(got) & np.isnan(expected)
        same_inf = np.isinf(got) & (got == expected)
        ok = close | same_nan | same_inf | np.isposinf(allowed)
    bad = np.flatnonzero(~ok)
    if bad.size:
        i = int(bad[0])
        print("%s: %d of %d elements beyond tolerance; first at flat index %d: got %r, expected %r, allowed %r"
              % (name, bad.size, count, i, got[i].item(), expected[i].item(), allowed[i].item()))
    else:
        print("%s: %d elements within tolerance" % (name, count))
    return int(bad.size)


def unwritten(name, dtype):
    """True (with the reason printed) when an element of a float output still holds main's 0xFF
    fill: a NaN with every bit set, which no arithmetic produces (a computed NaN is the quiet one).
    An integer output is unwritten only when every element is the fill: -1 can be a result."""
    with open(os.path.join(ROOT, "output", name + ".bin"), "rb") as f:
        data = f.read()
    size = ELEM_BYTES[dtype]
    words = np.frombuffer(data, dtype="<u%d" % size, count=len(data) // size)
    left = int(np.count_nonzero(words == (1 << (8 * size)) - 1))
    if dtype == "i32":
        left = left if data and left * size == len(data) else 0
    if left:
        print("%s: %d of %d elements still hold the 0xFF fill: no kernel wrote them"
              % (name, left, len(data) // size))
        return True
    return False


def main():
    dims = parse_dims(sys.argv[1:])
    outputs = [(name, dtype, shape_of(axes, dims)) for name, dtype, axes in OUTPUTS]
    missing = [os.path.join("output", name + ".bin") for name, _, _ in outputs
               if not os.path.isfile(os.path.join(ROOT, "output", name + ".bin"))]
    if missing:
        fail("no output to verify: %s missing; run the program first (./out/bin/main%s)"
             % (", ".join(missing), "".join(" " + arg for arg in sys.argv[1:])))
    if not is_exported(dims):
        wrong = sum(read_output(name, dtype, shape) is None for name, dtype, shape in outputs)
        wrong += sum(unwritten(name, dtype) for name, dtype, _ in outputs)
        if wrong:
            print("test failed")
            sys.exit(1)
        print("not verified: the golden outputs in data/ are for %s, these are for %s (their sizes are right)"
              % (dims_text(EXPORTED), dims_text(dynamic(dims))))
        return
    failed = sum(check(name, dtype, shape) for name, dtype, shape in outputs)
    if failed:
        print("test failed")
        sys.exit(1)
    print("test pass")


if __name__ == "__main__":
    run(main)
