"""`gaitloop serve`: a local web dashboard over the same links and StreamSession as `gaitloop
stream` (display.py builds display frames in the stream thread, hub.py fans them out to pages
without ever blocking it, app.py is the Starlette app, static/ the offline page)."""
