"""jute's ustring decoder replaces invalid UTF-8 exactly as the JVM's ``new String(b, UTF_8)``.

Byte strings drawn mostly from the bytes that matter to UTF-8 (leads of every length,
continuation bytes, the surrogate and overlong ranges, bytes no sequence may hold) are decoded
by a small Java program and by ``reference.jute.primitives.java_utf8``; the UTF-16 units must
be the same. Needs a JDK (``javac``); skipped without one.
"""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import pytest

from reference.jute.primitives import java_utf8

CASES = 20_000
SEED = 17
# Leads, continuations and the edges of every range Java's decoder tells apart.
BYTES = bytes.fromhex("00417f808f909fa0bfc0c1c2dfe0e1ecedeeeff0f1f3f4f5f7f8feff")
DECODER = """
import java.io.*;
import java.nio.charset.StandardCharsets;
public class Decode {
    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        StringBuilder out = new StringBuilder();
        String line;
        while ((line = in.readLine()) != null) {
            byte[] b = new byte[line.length() / 2];
            for (int i = 0; i < b.length; i++) {
                b[i] = (byte) Integer.parseInt(line.substring(2 * i, 2 * i + 2), 16);
            }
            String s = new String(b, StandardCharsets.UTF_8);
            for (int i = 0; i < s.length(); i++) {
                out.append(String.format("%04x", (int) s.charAt(i)));
            }
            out.append('\\n');
        }
        System.out.print(out);
    }
}
"""


def utf16_units(text: str) -> str:
    return text.encode("utf-16-be", "surrogatepass").hex()


@pytest.mark.slow
def test_invalid_utf8_decodes_to_the_same_utf16_units_as_on_the_jvm(tmp_path: Path) -> None:
    if shutil.which("javac") is None or shutil.which("java") is None:
        pytest.skip("no JDK here")
    (tmp_path / "Decode.java").write_text(DECODER)
    subprocess.run(["javac", "Decode.java"], cwd=tmp_path, check=True, timeout=120)
    rng = random.Random(SEED)
    samples = [
        bytes(
            rng.choice(BYTES) if rng.random() < 0.85 else rng.randrange(256)
            for _ in range(rng.randrange(0, 9))
        )
        for _ in range(CASES)
    ]
    jvm = subprocess.run(
        ["java", "-cp", str(tmp_path), "Decode"],
        input="".join(sample.hex() + "\n" for sample in samples),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.splitlines()
    assert len(jvm) == len(samples)
    mismatches = [
        (sample.hex(), expected, utf16_units(java_utf8(sample)))
        for sample, expected in zip(samples, jvm, strict=True)
        if utf16_units(java_utf8(sample)) != expected
    ]
    assert not mismatches, mismatches[:5]
