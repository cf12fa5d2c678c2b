"""How a model is trained: recipes (:mod:`.recipes`) and the settings of a run (:mod:`.config`), losses
(:mod:`.losses`), augmentations (:mod:`.augment`), callbacks (:mod:`.callbacks`), fitting (:mod:`.fit`),
precision (:mod:`.precision`), several processes (:mod:`.distributed`), the run folder (:mod:`.rundir`), process
tuning (:mod:`.tuning`), and the main job itself (:mod:`.run`)."""
