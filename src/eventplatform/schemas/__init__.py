"""Schema repository toolkit (materialize, check, test, diff) and the runtime schema registry."""
