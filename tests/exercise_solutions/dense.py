def backward(x, kernel, bias, g):
    return g @ kernel.T, x.T @ g, g.sum(axis=0)
