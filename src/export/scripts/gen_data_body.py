def random_input(rng, dtype, shape, int_bound):
    """Random values as moge's `--random` draws them (floats uniform in [-2, 2) rounded to the dtype,
    i32 uniform in 0..int_bound), from NumPy's generator: not the same numbers as moge's."""
    if dtype == "i32":
        return rng.integers(0, int_bound, size=shape, dtype=np.int64).astype(np.int32)
    values = rng.uniform(-2.0, 2.0, size=shape).astype(np.float32)
    if dtype == "f16":
        return values.astype(np.float16).astype(np.float32)
    if dtype == "bf16":
        # Round to nearest even in bf16, so that device_bytes' truncation is exact.
        bits = values.view(np.uint32).astype(np.uint64)
        bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
        return bits.astype(np.uint32).view(np.float32)
    return values


def main():
    dims = parse_dims(sys.argv[1:])
    exported = is_exported(dims)
    os.makedirs(os.path.join(ROOT, "input"), exist_ok=True)
    os.makedirs(os.path.join(ROOT, "output"), exist_ok=True)
    rng = np.random.default_rng(0)
    for name, dtype, axes, int_bound in INPUTS:
        shape = shape_of(axes, dims)
        if exported:
            path = os.path.join(ROOT, "data", name + ".npy")
            if not os.path.isfile(path):
                fail("%s is missing: it holds the exported input `%s`" % (path, name))
            array = np.load(path)
            if tuple(array.shape) != shape:
                fail("%s has shape %s, expected %s" % (path, array.shape, shape))
        else:
            array = random_input(rng, dtype, shape, int_bound)
        with open(os.path.join(ROOT, "input", name + ".bin"), "wb") as out:
            out.write(device_bytes(array, dtype))
    if exported:
        at = ", for " + dims_text(EXPORTED) if EXPORTED else ""
        print("wrote %s to input/ (moge's%s)" % (count_text(len(INPUTS), "input"), at))
    else:
        print("wrote %s to input/ (random, for %s; the golden outputs in data/ are for %s only, "
              "so verify_result.py checks only the outputs' sizes)"
              % (count_text(len(INPUTS), "input"), dims_text(dynamic(dims)), dims_text(EXPORTED)))


if __name__ == "__main__":
    run(main)
