# Turns the dashboard page into C: `cmake -DINPUT=dashboard.html -DOUTPUT=x.c -P dashboard.cmake`.
# The array ends with a NUL byte that gw_dashboard_html_len does not count.
file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" hexlen)
math(EXPR len "${hexlen} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
# 16 bytes a line (CMake regexes have no {n})
string(REPEAT "0x[0-9a-f][0-9a-f]," 16 line)
string(REGEX REPLACE "(${line})" "\\1\n    " bytes "${bytes}")
file(WRITE "${OUTPUT}.tmp"
    "/* Generated from gateway/admin/dashboard.html by dashboard.cmake. Do not edit. */\n"
    "#include \"admin/dashboard.h\"\n\n"
    "const char gw_dashboard_html[] = {\n    ${bytes}0x00};\n"
    "const size_t gw_dashboard_html_len = ${len};\n")
file(RENAME "${OUTPUT}.tmp" "${OUTPUT}")
