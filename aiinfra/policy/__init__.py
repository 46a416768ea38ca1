"""Policy: run CrossGuard policy packs over a planned stack through Pulumi's analyzer protocol,
apply expiring waivers, and report violations as a table, JSON, SARIF 2.1.0 and JUnit XML.

Modules import lazily: nothing here is imported by the policy pack itself (it reads tags through
`aiinfra.core.tags`).
"""
