"""The web page for people who fly drones: drop a photo, see its class map and where to land.

``python -m dronefast.app MODEL`` (:mod:`dronefast.cli.app`) serves it with Gradio (the optional extra ``[app]``)
on 127.0.0.1. The page runs the same code as the commands: :class:`~dronefast.inference.predictor.Predictor` for
the class map of a photo of any size, :func:`~dronefast.data.masks.ids_to_colour` and
:func:`~dronefast.inference.predict_files.write_class_maps` for its pictures and files, and the landing module
(:class:`~dronefast.landing.options.LandingOptions`, :func:`~dronefast.landing.writer.analyse_landing` with the
photo's camera from :func:`~dronefast.data.camera.read_camera`, :func:`~dronefast.landing.spots.spots_to_json`) for
the spots and their places.

Modules:
    settings    what the operator chooses (:class:`~dronefast.app.settings.AppSettings`), the sample photos offered
    handlers    what the page does, as plain functions (photo in: pictures, tables, spots and files out; bad
                input: a ``gr.Error`` with a message for the page); tested without a browser
    picture     the landing pictures (what the decision uses; the P(safe) map) and the verdict banner
    about       the model's recorded scores, the scale a photo is judged at, the photo's camera, in words
    style       the page's CSS (banner, full-width pictures, phone-width layout)
    page        the page's layout and its events (``build_page``)
    server      a private temporary folder for uploads and results, removed on exit; starting and stopping
                the server

Nothing here is imported by ``import dronefast``; :mod:`.handlers` and :mod:`.page` import Gradio, the other modules
do not (so that ``GRADIO_TEMP_DIR`` can be set before Gradio is imported).
"""
