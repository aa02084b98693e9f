# Writes a C file defining `const char NAME[]` with the bytes of INPUT.
# Usage: cmake -DINPUT=... -DOUTPUT=... -DNAME=... -P embed_text.cmake
file(READ "${INPUT}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE "${OUTPUT}" "/* generated from ${INPUT}; do not edit */\nconst char ${NAME}[] = {${bytes} 0};\n")
