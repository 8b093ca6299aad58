"""CPython stand-in for the `micropython` module (identity decorators, const, no-op hooks)."""


def const(x):
    return x


def viper(f):
    return f


def native(f):
    return f


def alloc_emergency_exception_buf(n):
    return None


def mem_info(*_args):
    return None


def opt_level(*_args):
    return 0
