"""The aiinfra policy pack's rules, one module per domain; each module lists its rules in POLICIES."""
