#!/usr/bin/env python3
"""Writes conf/audio/demo-congrats.wav, the sample prompt of conf/dialplan.json: three
rising tones (C5, E5, G5), 1.2 s, 8 kHz mono 16-bit PCM, made with the standard library
only so the repository needs no audio tool.  Run: python3 conf/audio/make-demo.py"""
import math
import os
import struct
import wave

RATE = 8000
NOTES = [(523.25, 0.4), (659.25, 0.4), (783.99, 0.4)]

frames = bytearray()
for freq, secs in NOTES:
    n = int(RATE * secs)
    for i in range(n):
        env = min(1.0, i / 80, (n - i) / 80)  # 10 ms fades: no clicks between notes
        frames += struct.pack('<h', int(12000 * env * math.sin(2 * math.pi * freq * i / RATE)))

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'demo-congrats.wav')
with wave.open(out, 'wb') as w:
    w.setnchannels(1)
    w.setsampwidth(2)
    w.setframerate(RATE)
    w.writeframes(bytes(frames))
