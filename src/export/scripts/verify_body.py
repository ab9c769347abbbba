def check(name, dtype, shape):
    """The number of elements of output `name` beyond tolerance (moge's rule: element i passes when
    |got - expected| <= allowed[i]; NaN matches only NaN, an infinity only itself, and an infinite
    allowed value, an overflow-dependent sum, matches anything)."""
    path = os.path.join(ROOT, "output", name + ".bin")
    with open(path, "rb") as f:
        data = f.read()
    count = int(np.prod(shape, dtype=np.int64))
    if len(data) != count * ELEM_BYTES[dtype]:
        print("%s: %d bytes, expected %d (%s %s)" % (path, len(data), count * ELEM_BYTES[dtype], dtype, shape))
        return max(count, 1)
    got = from_device_bytes(data, dtype, shape).astype(np.float64).ravel()
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
              % (name, bad.size, count, i, got[i], expected[i], allowed[i]))
    else:
        print("%s: %d elements within tolerance" % (name, count))
    return int(bad.size)


def main():
    failed = sum(check(name, dtype, shape) for name, dtype, shape in OUTPUTS)
    if failed:
        print("test failed")
        sys.exit(1)
    print("test pass")


if __name__ == "__main__":
    main()
