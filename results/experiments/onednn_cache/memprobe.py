"""`ctcasr train` that also prints, at each epoch's end, the process's RSS, glibc's heap in use and free
(mallinfo2), its separately mapped blocks and Python's traced allocations (MB).

    python memprobe.py train recipes/an4_lstm.yaml trainer.epochs=8 trainer.out_dir=/tmp/probe | grep MEM
"""

import os

# what `ctcasr train` sets before torch loads (ctcasr.cli.set_runtime_env): torch is imported below, before main()
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")
os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "8")

import ctypes  # noqa: E402
import sys  # noqa: E402
import tracemalloc  # noqa: E402

tracemalloc.start(1)

import ctcasr.training as training  # noqa: E402
from ctcasr.cli import main  # noqa: E402


class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                     "fsmblks", "uordblks", "fordblks", "keepcost")]


libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
record_epoch = training.RunRecorder.on_train_epoch_end


def report_then_record(self, trainer, module) -> None:
    info = libc.mallinfo2()
    with open("/proc/self/status") as status:
        rss_mb = int(status.read().split("VmRSS:")[1].split()[0]) // 1024
    python_mb = tracemalloc.get_traced_memory()[0] >> 20
    print(f"MEM epoch={trainer.current_epoch} rss={rss_mb} heap_arena={info.arena >> 20} "
          f"inuse={info.uordblks >> 20} free={info.fordblks >> 20} mmapped={info.hblkhd >> 20} py={python_mb}",
          flush=True)
    record_epoch(self, trainer, module)


training.RunRecorder.on_train_epoch_end = report_then_record
sys.exit(main(sys.argv[1:]))
