"""The aiinfra policy pack: started by the Pulumi engine (or `aiinfra plan`) as the analyzer plugin."""

from pack import PACK
from servicer import serve

serve(**PACK)
