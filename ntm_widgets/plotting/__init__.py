"""Pure functions: arrays -> matplotlib figures or PNG bytes. Never imports widgets."""
