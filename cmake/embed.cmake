# Turns a file into a C array: `cmake -DINPUT=f.txt -DOUTPUT=x.c -DNAME=gw_x -P embed.cmake`
# defines `const char NAME[]` (the bytes, then a NUL byte) and `const size_t NAME_len` (not
# counting the NUL), declared by -DHEADER=dir/x.h when given, else in the file itself.
file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" hexlen)
math(EXPR len "${hexlen} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
# 16 bytes a line (CMake regexes have no {n})
string(REPEAT "0x[0-9a-f][0-9a-f]," 16 line)
string(REGEX REPLACE "(${line})" "\\1\n    " bytes "${bytes}")
get_filename_component(input "${INPUT}" ABSOLUTE)
file(RELATIVE_PATH from "${CMAKE_CURRENT_LIST_DIR}/.." "${input}")
if(HEADER)
    set(decl "#include \"${HEADER}\"\n\n")
else()
    set(decl "#include <stddef.h>\n\nextern const char ${NAME}[];\nextern const size_t ${NAME}_len;\n")
endif()
file(WRITE "${OUTPUT}.tmp"
    "/* Generated from ${from} by cmake/embed.cmake. Do not edit. */\n"
    "${decl}"
    "const char ${NAME}[] = {\n    ${bytes}0x00};\n"
    "const size_t ${NAME}_len = ${len};\n")
file(RENAME "${OUTPUT}.tmp" "${OUTPUT}")
