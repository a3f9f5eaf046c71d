"""The webshop autopilot: background chores of an online shop as Azure Functions."""
