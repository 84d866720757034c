"""Closed-loop referrals: the lifecycle (``lifecycle``), the service directory (``directory``), routing
(``routing``), the use cases (``services``) and the FHIR Task export (``fhir``). Imports ``engine`` only."""
