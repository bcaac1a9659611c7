"""Makes schemas/ the package data `flows.schemas` (see flows/resources.py); nothing to import here."""
