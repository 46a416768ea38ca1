"""The bottom layer every other layer may import: input errors, the catalog of machines and prices, the lake
layout, tag reading and the fixed vocabularies. Standard library only, so the policy pack and the workload
images can import it without the cloud SDKs or torch (a test checks this)."""
