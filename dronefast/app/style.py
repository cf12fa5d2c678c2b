"""The page's own CSS (given to Gradio's ``launch``): the verdict banner, pictures as wide as their box, and a
phone-width layout where rows stack, the pictures take the full width and the spots table scrolls sideways inside
its box (headers broken between words, never inside one) instead of being cut. Light: no Gradio."""
from __future__ import annotations

__all__ = ["PAGE_CSS", "PAGE_HEAD", "PHONE_WIDTH_PX"]

#: Below this viewport width (CSS px) the page switches to one column.
PHONE_WIDTH_PX = 700

PAGE_CSS = f"""
.df-banner {{ padding: .6em .9em; border-radius: 6px; font-weight: 700; font-size: 1.05em; line-height: 1.35;
  white-space: normal; overflow-wrap: anywhere; box-sizing: border-box; max-width: 100%; }}
.df-banner-no {{ background: #b00020; color: #fff; }}
.df-banner-ok {{ background: #1b5e20; color: #fff; }}
.df-picture .image-frame, .df-picture .image-frame img {{ width: 100% !important; height: auto !important;
  object-fit: contain !important; }}
.df-key {{ display: inline-flex; align-items: center; margin: 0 1em .2em 0; }}
.df-key i {{ width: 1em; height: 1em; display: inline-block; margin-right: .35em; border: 1px solid #888; }}
#spots th, #spots td {{ min-width: 5.5em !important; }}
#spots th .header {{ word-break: normal !important; overflow-wrap: normal !important; }}
@media (max-width: {PHONE_WIDTH_PX}px) {{
  .df-stack {{ flex-direction: column !important; flex-wrap: nowrap !important; }}
  .df-stack > * {{ width: 100% !important; max-width: 100% !important; min-width: 0 !important;
    flex: 1 1 auto !important; }}
}}
"""

#: Gradio scopes :data:`PAGE_CSS` to the page's content; the page's own side margins (32 px each side, a sixth of
#: a phone's width) are outside it, so this rule goes into the page's ``<head>`` as it is.
PAGE_HEAD = f"""<style>
@media (max-width: {PHONE_WIDTH_PX}px) {{
  .gradio-container .main.fillable {{ padding-left: 8px !important; padding-right: 8px !important; }}
}}
</style>"""
