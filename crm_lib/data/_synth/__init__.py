"""Private parts of ``crm_lib.data.synthetic`` (import from there, not from here)."""
