"""Where the data comes from: dataset layouts on disk (:mod:`.layout`), class tables (:mod:`.classes`), photos
(:mod:`.images`) and masks (:mod:`.masks`), the dataset check (:mod:`.validation`), training-ready copies
(:mod:`.preparation`), the train/validation split (:mod:`.split`), camera EXIF/XMP (:mod:`.camera`) and DJI
telemetry (:mod:`.telemetry`), and the fastai DataBlock (:mod:`.block`) with items cached in memory
(:mod:`.cache`), training windows (:mod:`.windows`) and loaders (:mod:`.loaders`). The public names are
re-exported by :mod:`dronefast`."""
