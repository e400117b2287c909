"""Build the optional compiled extensions (signature core, hash fast paths, block loop).

Everything else lives in pyproject.toml. The extension is optional: without Cython or a working
C compiler the install still succeeds (with a warning) and :mod:`wattchain.script.sigcore` falls
back to the pure coincurve path (same answers, slower). It links against nothing: libsecp256k1
is reached through function pointers that coincurve's bundled cffi module hands out at run time.
"""

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """build_ext that turns a failed compile into a warning (setuptools' ``optional`` flag
    does not cover every failure mode, e.g. a missing compiler executable)."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - any build failure means "use the fallback"
            self.warn(f"compiled signature core not built ({exc}); using the pure backend")

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001
            self.warn(f"{ext.name} not built ({exc}); using the pure backend")


try:
    from Cython.Build import cythonize
except ImportError:  # no Cython: pure-Python install
    ext_modules = []
else:
    ext_modules = cythonize(
        [  # Transaction decoding (wattchain.core.tx.Transaction.read).
         Extension("wattchain.core._tx_reader", ["wattchain/core/_tx_reader.pyx"],
                   depends=["wattchain/core/_fast_slots.pxd"], optional=True),
         Extension("wattchain.script._sigcore", ["wattchain/script/_sigcore.pyx"],
                   depends=["wattchain/script/_sigcore.pxd"], optional=True),
         # GIL-free worker threads for the block loop's signature walks.
         Extension("wattchain.script._walk_queue", ["wattchain/script/_walk_queue.pyx"],
                   depends=["wattchain/script/_sigcore.pxd"], optional=True),
         # BIP143 midstates and digests for the block pipeline (wattchain.script.fastpaths).
         Extension("wattchain.script._fastpaths", ["wattchain/script/_fastpaths.pyx"],
                   include_dirs=["wattchain/script"],
                   depends=["wattchain/script/_fastpaths.pxd",
                            "wattchain/script/sha256_shani.h"], optional=True),
         # The block loop's common transactions in C (wattchain.consensus.connect_fast).
         Extension("wattchain.consensus._connect_fast",
                   ["wattchain/consensus/_connect_fast.pyx"],
                   depends=["wattchain/consensus/_fast_bytes.pxd",
                            "wattchain/core/_fast_slots.pxd", "wattchain/script/_sigcore.pxd",
                            "wattchain/script/_fastpaths.pxd"],
                   optional=True),
         # check_block's per-transaction checks and the merkle roots (consensus.block_scan).
         Extension("wattchain.consensus._block_scan", ["wattchain/consensus/_block_scan.pyx"],
                   depends=["wattchain/consensus/_fast_bytes.pxd",
                            "wattchain/core/_fast_slots.pxd", "wattchain/script/_fastpaths.pxd"],
                   optional=True),
         # CoinsViewCache._batch_write in C (the node's per-block flush).
         Extension("wattchain.consensus._coins_flush", ["wattchain/consensus/_coins_flush.pyx"],
                   depends=["wattchain/consensus/_fast_bytes.pxd",
                            "wattchain/core/_fast_slots.pxd"], optional=True)],
        language_level=3,
        quiet=True,
    )

setup(ext_modules=ext_modules, cmdclass={"build_ext": OptionalBuildExt})
