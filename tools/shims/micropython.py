"""Stand-in for MicroPython's built-in ``micropython`` module, so firmware imports on CPython."""


def const(value):
    return value


def native(func):
    return func


def viper(func):
    return func


def heap_lock():
    return 0


def heap_unlock():
    return 0
