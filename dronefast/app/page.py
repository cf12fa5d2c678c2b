"""The page: its layout and events over :class:`~dronefast.app.handlers.Handlers` (``build_page``).

Element ids (for people and for the browser test): ``photo`` (upload), ``examples``, ``model-scores``,
``status``, ``classmap``, ``overlay``, ``opacity``, ``legend``, ``shares``, ``landing-banner``, ``landing``,
``p-safe``, ``threshold``, ``clearance-unit``, ``clearance-px``, ``clearance-m``, ``altitude``, ``focal``,
``sensor``, ``landing-note``, ``spots``, ``downloads``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence, Tuple

import gradio as gr

from .about import model_scores, scores_markdown
from .handlers import (
    SHARE_COLUMNS,
    SPOT_COLUMNS,
    Handlers,
    forget,
    legend_html,
    readable_errors,
)
from .picture import BELOW_TINT, DISC_COLOUR, HAZARD_TINT, SAFE_TINT
from .settings import DEFAULT_CLEARANCE_M, DEFAULT_CLEARANCE_PX, UNITS

__all__ = ["build_page", "TITLE", "SESSION_SECONDS", "DELETE_CACHE", "LANDING_LABEL", "P_SAFE_LABEL",
           "MIN_PICTURE_PX"]

TITLE = "dronefast: where to land"
#: A session's prediction (and its files) is dropped this long after its last use or after its tab is closed.
SESSION_SECONDS = 3600
#: Gradio's cache clean-up: every 10 minutes, uploads and pictures older than an hour are deleted.
DELETE_CACHE = (600, 3600)
#: Narrowest a result picture gets beside another one; narrower screens stack them (see :mod:`.style`).
MIN_PICTURE_PX = 320
LANDING_LABEL = "Landing decision"
P_SAFE_LABEL = "P(safe) map"
#: What the colours of the two landing pictures mean (shown above them).
KEY = ((f"rgb{SAFE_TINT}", "safe ground with P(safe) at or above the threshold"), (f"rgb{HAZARD_TINT}", "hazard"),
       ("rgb(150,150,150)", "neither (unsure, or unknown ground)"), (f"rgb{DISC_COLOUR}", "a spot's clearance disc"),
       ("linear-gradient(90deg,#000,#fff)", "P(safe) 0 to 1"), (f"rgb{BELOW_TINT}", "P(safe) below the threshold"))


def _key_html() -> str:
    return "".join(f'<span class="df-key"><i style="background:{c}"></i>{text}</span>' for c, text in KEY)
_INTRO = ("# Where can the drone land?\n"
          "Drop a nadir (straight-down) drone photo of any size, or pick a sample photo. The model colours every "
          "pixel by class; the landing spots are the points of safe ground (paved area, grass, dirt, gravel) "
          "farthest from anything else. A preview from a segmentation model: look before you land.")


def _landing_controls(handlers: Handlers) -> Tuple[gr.components.Component, ...]:
    """The P(safe) threshold, the clearance (pixels or metres) and camera inputs, set to the operator's landing
    options; returned in the order the handlers take them."""
    o = handlers.settings.landing
    px = o.clearance_px or DEFAULT_CLEARANCE_PX
    m = o.clearance_m or DEFAULT_CLEARANCE_M
    threshold = gr.Slider(0, 1, value=o.min_p_safe, step=0.01, label="P(safe) threshold: land only where the model "
                          "is at least this sure", elem_id="threshold")
    unit = gr.Radio(list(UNITS), value="metres" if o.clearance_m else "pixels", label="Clearance in",
                    elem_id="clearance-unit")
    clearance_px = gr.Slider(1, max(500, px), value=px, step=1, label="Clearance (pixels of the photo)",
                             elem_id="clearance-px")
    clearance_m = gr.Slider(0.1, max(20, m), value=m, step=0.1, label="Clearance (metres)", elem_id="clearance-m")
    with gr.Accordion("Camera (for metres; each value given wins over what the photo says)",
                      open=o.altitude_m is not None):
        altitude = gr.Number(o.altitude_m, label="Altitude above ground (m)", minimum=0, elem_id="altitude")
        focal = gr.Number(o.focal_mm, label="Real focal length (mm)", minimum=0, elem_id="focal")
        sensor = gr.Number(o.sensor_mm, label="Sensor width (mm)", minimum=0, elem_id="sensor")
    return unit, clearance_px, clearance_m, altitude, focal, sensor, threshold


def _picture(label: str, elem_id: str, **kw) -> gr.Image:
    """A result picture, at least :data:`MIN_PICTURE_PX` wide (two fit side by side on a wide screen)."""
    return gr.Image(label=label, interactive=False, elem_id=elem_id, min_width=MIN_PICTURE_PX,
                    elem_classes="df-picture", **kw)


def build_page(handlers: Handlers, examples: Sequence[Path] = (), delete_cache: Optional[Tuple[int, int]] = DELETE_CACHE
               ) -> gr.Blocks:
    """The page over `handlers`, with `examples` (photo paths) to pick from; `delete_cache` is Gradio's
    ``(every seconds, older than seconds)`` clean-up of uploads and pictures (None: none). Its CSS
    (:data:`~dronefast.app.style.PAGE_CSS`) is given at launch (:func:`~dronefast.app.server.launch_settings`)."""
    classes = handlers.classes
    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=delete_cache) as page:
        gr.Markdown(_INTRO)
        result = gr.State(time_to_live=SESSION_SECONDS, delete_callback=forget)
        with gr.Row(elem_classes="df-stack"):
            with gr.Column(scale=1):
                photo = readable_errors(gr.Image(type="filepath", image_mode=None, sources=["upload", "clipboard"],
                                                 label="Drone photo", elem_id="photo", height=320))
            with gr.Column(scale=1):
                if examples:
                    gr.Examples([[str(p)] for p in examples], inputs=[photo], label="Sample photos (synthetic)",
                                elem_id="examples", examples_per_page=len(examples))
                gr.Markdown(scores_markdown(model_scores(handlers.settings.model)), elem_id="model-scores")
                status = gr.Markdown(elem_id="status")
        with gr.Row(equal_height=True, elem_classes="df-stack"):
            class_map = _picture("Class map", "classmap", format="png")
            blended = _picture("Overlay", "overlay")
        with gr.Row(elem_classes="df-stack"):
            with gr.Column(scale=3):
                opacity = gr.Slider(0, 1, value=handlers.settings.opacity, step=0.05, label="Overlay opacity",
                                    elem_id="opacity")
                gr.HTML(legend_html(classes), label="Classes", elem_id="legend")
            with gr.Column(scale=2):
                shares = gr.Dataframe(headers=SHARE_COLUMNS, interactive=False, label="Share of the photo",
                                      elem_id="shares", max_height=300)
        gr.Markdown("## Where to land")
        banner = gr.HTML(elem_id="landing-banner")
        gr.HTML(_key_html(), elem_id="landing-key")
        with gr.Row(equal_height=True, elem_classes="df-stack"):
            landing = _picture(LANDING_LABEL, "landing")
            p_safe_map = _picture(P_SAFE_LABEL, "p-safe", format="png")
        with gr.Row(elem_classes="df-stack"):
            with gr.Column(scale=1):
                controls = _landing_controls(handlers)
            with gr.Column(scale=1):
                landing_note = gr.Markdown(elem_id="landing-note")
        spots = gr.Dataframe(headers=SPOT_COLUMNS, interactive=False, label="Landing spots, best first",
                             elem_id="spots", datatype="markdown", wrap=True, pinned_columns=1)
        downloads = gr.File(label="Downloads: id mask, colour mask, landing spots (JSON; GeoJSON when placed)",
                            file_count="multiple", interactive=False, elem_id="downloads")

        photo.change(handlers.predict, [photo, result, opacity, *controls],
                     [result, class_map, blended, shares, landing, spots, downloads, status, landing_note, banner,
                      p_safe_map], show_progress_on=[class_map, blended, landing], concurrency_limit=1)
        opacity.change(handlers.restyle, [result, opacity], [blended], show_progress="hidden",
                       trigger_mode="always_last")
        gr.on([c.change for c in controls], handlers.reland, [result, *controls],
              [landing, spots, downloads, landing_note, banner, p_safe_map], show_progress="minimal",
              trigger_mode="always_last")
    return page
