"""What the screens and the reading commands show, as queries over the store: the overview's
panels (``panels``), metric points (``metrics``), log records (``logs``) and the live tail
(``tail``). Journeys and dead letters have rooms of their own (``console.journeys``,
``console.dlq``).
"""
