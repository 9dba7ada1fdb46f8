"""Constants and small helpers shared by the reliability tests (not a conftest: the
module name must be unique across tests/)."""
import os

from beam_pipelines.media import ffmpeg_bin

SCORED = "scored"  # expected outcome of a case that must score
K = 8  # cpllm_tiny's num_keyframes
BUCKET = "cpllm-reliability"  # gs:// emulator bucket (holds no objects)
# Variable frame rate clip: 10 frames at 10 fps, a 0.6 s gap, 10 frames at 20 fps.
VFR_SETPTS = "setpts='if(lt(N,10),N/10,1.5+(N-10)/20)/TB'"
VFR_PTS = [n / 10 for n in range(10)] + [1.5 + n / 20 for n in range(10)]


def ffmpeg(*args):
    ffmpeg_bin.run(["-hide_banner", "-loglevel", "error", "-y", *map(str, args)],
                   timeout_s=120, check=True)


def tree(root):
    """{relative path (bytes): (size, mtime_ns)} of every entry under root."""
    root = os.fsencode(str(root))
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            out[os.path.relpath(p, root)] = (st.st_size, st.st_mtime_ns)
    return out


class DieOnce:
    """A DoFn body (used by test_worker_death.py) whose worker process exits hard on
    element `victim` the first time: the flag file records that it happened."""

    def __init__(self, flag, victim):
        self.flag, self.victim = str(flag), victim

    def __call__(self, x):
        if x == self.victim and not os.path.exists(self.flag):
            with open(self.flag, "w"):
                pass
            os._exit(1)  # no cleanup, no exception: the process is gone
        return x
