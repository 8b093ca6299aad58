"""Board boot: start the gaitloop app, which streams on boot until Ctrl-C hands over the REPL."""

import sys

if "lib" not in sys.path:
    sys.path.append("lib")

from gaitfw import app  # noqa: E402

app.run()
