# cmake -DINPUT=file -DOUTPUT=file.cpp -P embed.cmake: the file's bytes as a C++ array.
file(READ ${INPUT} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" bytes "${bytes}")
file(WRITE ${OUTPUT} "// Generated from assets/sample-call-ulaw.wav by assets/embed.cmake.\n"
  "#include \"assets/sample_call.h\"\n"
  "namespace callproxy::assets {\n"
  "namespace { const unsigned char bytes[] = {\n${bytes}}; }\n"
  "std::span<const std::uint8_t> sample_call_wav() { return {bytes, sizeof bytes}; }\n"
  "}  // namespace callproxy::assets\n")
