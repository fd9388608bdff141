def backward(x, mask, rate, g):
    return (g * mask / (1.0 - rate),)
