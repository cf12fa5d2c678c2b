"""How a model is trained: recipes (:mod:`.recipes`) and the settings of a run (:mod:`.config`), losses
(:mod:`.losses`), augmentations (:mod:`.augment`), callbacks (:mod:`.callbacks`), fitting (:mod:`.fit`),
calibration (:mod:`.calibrate`), precision (:mod:`.precision`), several processes (:mod:`.distributed`), the run
folder (:mod:`.rundir`), preflight checks (:mod:`.preflight`) and process tuning (:mod:`.tuning`). The main job that
combines them is :mod:`dronefast.workflows.training_run`."""
