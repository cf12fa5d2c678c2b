"""Where the data comes from: dataset layouts on disk (:mod:`.layout`), class tables (:mod:`.classes`), photos
(:mod:`.images`) and masks (:mod:`.masks`), the dataset check (:mod:`.check`), training-ready copies
(:mod:`.prepare`), the train/validation split (:mod:`.split`) and the fastai DataBlock with items cached in memory
(:mod:`.block`). The public names are re-exported by :mod:`dronefast`."""
