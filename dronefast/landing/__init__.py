"""Where a drone can land, from a class map: the classes' roles (:mod:`.policy`), distances (:mod:`.geometry`),
ranked spots (:mod:`.spots`), pictures (:mod:`.render`), settings (:mod:`.options`) and files (:mod:`.writer`).
``python -m dronefast.landing`` runs the command (:mod:`dronefast.cli.landing`)."""
