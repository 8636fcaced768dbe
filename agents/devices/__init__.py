"""Pyomo device builders (SPEC §3), one module per device family.  Builders only build: no solving, no I/O.

* :mod:`agents.devices.core` — time grid (:class:`~agents.devices.core.Horizon`), carrier buses and
  their balances, :class:`~agents.devices.core.DeviceHandle`, complementarity pairs, shared helpers and
  the builder conventions;
* :mod:`agents.devices.storage` — battery, 002's power storage, heat storage, H2 and NH3 tanks;
* :mod:`agents.devices.grid` — grid exchange, P2P lines, 002's day-ahead and intraday trading;
* :mod:`agents.devices.renewables` — PV / wind plants, 003's wind farms;
* :mod:`agents.devices.heat` — electric boiler, heat pump, electric heater, waste-heat recovery;
* :mod:`agents.devices.gas` — gas purchase, H2-blended gas turbine and gas boiler;
* :mod:`agents.devices.hydrogen` — power-to-gas (electrolysis + methanation) and power-to-ammonia;
* :mod:`agents.devices.thermal` — 000's CHP unit, 003's NH3-co-fired coal units;
* :mod:`agents.devices.biogas` — biogas generator, digester and gas holder;
* :mod:`agents.devices.carbon` — CO2 ledger, CCUS, stepped carbon trading;
* :mod:`agents.devices.demand` — fixed, shiftable and transferable loads, 003's demand response,
  recourse slacks.

The EV builders (one vehicle, 003's aggregated fleet) live with the EV model in :mod:`agents.ev`.
Every family imports :mod:`agents.devices.core`; the only other imports between families are
``gas``, ``hydrogen``, ``thermal`` → ``carbon`` (the CO2 ledger) and ``hydrogen`` → ``gas`` (heating
values), so the package has no import cycle.
"""
