"""Where a drone can land, from a class map: the classes' roles (:mod:`.policy`), distances (:mod:`.distances`),
ranked spots (:mod:`.spots`), pictures (:mod:`.pictures`), settings (:mod:`.options`), GPS positions
(:mod:`.geo`), safety against the truth (:mod:`.safety`) and files (:mod:`.writer`).
``python -m dronefast.landing`` runs the command (:mod:`dronefast.cli.landing`)."""
