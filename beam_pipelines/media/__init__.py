"""Media I/O for the pipelines: probe, key-frame decode, storage, transcode, samples.

ffmpeg is the only decoder; ``ffmpeg_bin`` chooses the binary (system ffmpeg, else the
one imageio-ffmpeg ships). Import the modules you need, e.g.
``from beam_pipelines.media import keyframes``; docs/INTERFACES.md is the contract.
"""
