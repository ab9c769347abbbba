def main():
    os.makedirs(os.path.join(ROOT, "input"), exist_ok=True)
    os.makedirs(os.path.join(ROOT, "output"), exist_ok=True)
    for name, dtype, shape in INPUTS:
        path = os.path.join(ROOT, "data", name + ".npy")
        array = np.load(path)
        if tuple(array.shape) != shape:
            sys.exit("error: %s has shape %s, expected %s" % (path, array.shape, shape))
        with open(os.path.join(ROOT, "input", name + ".bin"), "wb") as out:
            out.write(device_bytes(array, dtype))
    print("wrote %d inputs to input/" % len(INPUTS))


if __name__ == "__main__":
    main()
