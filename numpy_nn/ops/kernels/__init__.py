"""The fast tier: speed-tuned kernels, one module per op family, each equal to its reference.

The reference tier (numpy_nn/ops/<family>.py) says *what* an op computes, in code shaped like
its formula. The modules here say how to compute the same numbers faster on a CPU: chunking the
batch so temporaries stay in cache, splitting work over threads, blocked sums, reused buffers.
Each kernel is a subclass of its reference op, registered with ``@fast_kernel_for(Reference)``,
and tests/test_kernels.py checks it against that reference. ``numpy_nn.config.set_kernels``
chooses the tier; importing this package registers every kernel.
"""
from . import pooling  # noqa: F401,E402
from . import normalization  # noqa: F401,E402
from . import conv  # noqa: F401,E402
from . import recurrent  # noqa: F401,E402
from . import activations  # noqa: F401,E402
from . import math  # noqa: F401,E402
from . import reshaping  # noqa: F401,E402
from . import depthwise  # noqa: F401,E402
