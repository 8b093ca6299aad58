"""gaitloop firmware: runs on the board under MicroPython and imports on CPython.

On CPython a stand-in `micropython` module is installed so that `import micropython`,
`@micropython.viper` and `const` work in every firmware module; viper functions are defined
but must not be called there (modules pick a plain twin when `compat.MICROPYTHON` is False).
"""

import sys

if sys.implementation.name != "micropython" and "micropython" not in sys.modules:
    from gaitfw import _cpython_micropython

    sys.modules["micropython"] = _cpython_micropython
