#!/usr/bin/env python3
"""Checks that a PNG screenshot is not blank: decodes it (zlib only, no PIL)
and counts non-white pixels and pixels near given colours.

  png_check.py SHOT.png [--min-bytes N] [--min-nonwhite FRACTION]
               [--color '#RRGGBB:MIN_PIXELS' ...] [--crop X,Y,W,H OUT.png]

Prints one line of statistics; exits 1 (with a "png_check: FAIL ..." line)
when a threshold is not met. --crop writes a region to OUT.png (for looking
at a part of a tall screenshot).
"""
import argparse
import os
import struct
import sys
import zlib


def decode(path):
    """Returns (width, height, channels, rows) with rows a list of bytearrays."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG file")
    pos, idat, hdr = 8, [], None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    if hdr is None:
        raise ValueError("no IHDR chunk")
    width, height, depth, ctype, _, _, interlace = hdr
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(ctype)
    if depth != 8 or channels is None or interlace:
        raise ValueError("unsupported PNG (depth %d, colour type %d, interlace %d)" % (depth, ctype, interlace))
    raw = zlib.decompress(b"".join(idat))
    stride = width * channels
    rows, prev = [], bytearray(stride)
    for y in range(height):
        base = y * (stride + 1)
        ftype = raw[base]
        line = bytearray(raw[base + 1:base + 1 + stride])
        if ftype == 1:  # Sub
            for i in range(channels, stride):
                line[i] = (line[i] + line[i - channels]) & 0xFF
        elif ftype == 2:  # Up
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prev))
        elif ftype == 3:  # Average
            for i in range(stride):
                left = line[i - channels] if i >= channels else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif ftype == 4:  # Paeth
            for i in range(stride):
                a = line[i - channels] if i >= channels else 0
                b = prev[i]
                c = prev[i - channels] if i >= channels else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
        elif ftype != 0:
            raise ValueError("bad filter type %d in row %d" % (ftype, y))
        rows.append(line)
        prev = line
    return width, height, channels, rows


def rgb_rows(width, channels, rows):
    for line in rows:
        if channels >= 3:
            yield [(line[i], line[i + 1], line[i + 2]) for i in range(0, width * channels, channels)]
        else:
            yield [(line[i], line[i], line[i]) for i in range(0, width * channels, channels)]


def write_png(path, width, height, rgb):
    raw = b"".join(b"\x00" + bytes(v for px in row for v in px) for row in rgb)

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 6)))
        f.write(chunk(b"IEND", b""))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("png")
    ap.add_argument("--min-bytes", type=int, default=0)
    ap.add_argument("--min-nonwhite", type=float, default=0.0, help="fraction of pixels that are not white")
    ap.add_argument("--color", action="append", default=[], help="#RRGGBB:MIN_PIXELS (within a distance of 40)")
    ap.add_argument("--crop", nargs=2, metavar=("X,Y,W,H", "OUT"))
    args = ap.parse_args()

    size = os.path.getsize(args.png)
    width, height, channels, rows = decode(args.png)
    wanted = []
    for spec in args.color:
        hexpart, _, minimum = spec.partition(":")
        h = hexpart.lstrip("#")
        wanted.append(((int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)), int(minimum or 1), hexpart))
    counts = [0] * len(wanted)
    nonwhite = 0
    crop = None
    if args.crop:
        cx, cy, cw, ch = (int(v) for v in args.crop[0].split(","))
        crop = []
    for y, row in enumerate(rgb_rows(width, channels, rows)):
        for (r, g, b) in row:
            if r < 245 or g < 245 or b < 245:
                nonwhite += 1
                for k, ((wr, wg, wb), _, _) in enumerate(wanted):
                    if abs(r - wr) + abs(g - wg) + abs(b - wb) <= 40:
                        counts[k] += 1
        if crop is not None and cy <= y < cy + ch:
            crop.append(row[cx:cx + cw])
    if crop is not None:
        write_png(args.crop[1], len(crop[0]) if crop else 0, len(crop), crop)

    total = width * height
    stats = "png_check: %s %dx%d, %d bytes, %.1f%% non-white" % (args.png, width, height, size, 100.0 * nonwhite / total)
    stats += "".join(", %s: %d px" % (w[2], n) for w, n in zip(wanted, counts))
    print(stats)
    failed = []
    if size < args.min_bytes:
        failed.append("file has %d bytes, expected at least %d" % (size, args.min_bytes))
    if nonwhite < args.min_nonwhite * total:
        failed.append("only %.2f%% of the pixels are not white, expected %.2f%%" %
                      (100.0 * nonwhite / total, 100.0 * args.min_nonwhite))
    for (rgb, minimum, name), n in zip(wanted, counts):
        if n < minimum:
            failed.append("%d pixels near %s, expected at least %d" % (n, name, minimum))
    for f in failed:
        print("png_check: FAIL " + f)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
