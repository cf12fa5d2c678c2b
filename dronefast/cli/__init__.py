"""The command line: one module per command (parser and ``main`` only, over library functions), and what they
share (:mod:`.common`). ``python -m dronefast.<command>`` runs them; the library never imports this package."""
