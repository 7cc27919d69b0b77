#!/usr/bin/env bash
# Diagnosis for the GPU machine's crash when a kernel's argument check formats
# an integer (std::basic_ostream::_M_insert<long> instantiated inside _C.so):
# which compiler, which libstdc++, and whether a plain shared library built
# with the same flags can format a long at all.
cd "$(dirname "$0")/.."
CXX=${CXX:-$(python3 -c 'import sysconfig; print(sysconfig.get_config_var("CXX").split()[0])')}
for c in "$CXX" /opt/gcc/bin/g++ g++ c++; do command -v "$c" > /dev/null && echo "$c: $($c --version | head -1)"; done
so=$(ls mixtrain_cuda/_C*.so | head -1)
echo "== $so"
ldd "$so" | grep -E "stdc|gcc_s" 
nm -C --defined-only "$so" | grep -E "_M_insert<long>|num_put<char.*>::id|locale::id" | head
nm -C -D "$so" | grep -cE " (u|V|W) .*std::" | sed 's/^/dynamic weak or unique std symbols: /'
cat > /tmp/fmt.cpp <<'CPP'
#include <sstream>
#include <string>
extern "C" __attribute__((visibility("default"))) int fmt() { std::ostringstream ss; ss << 42L; return ss.str() == "42" ? 0 : 1; }
CPP
for flags in "-O3 -fPIC -std=c++17" "-O3 -fPIC -std=c++17 -fvisibility=hidden" "-O3 -fPIC -std=c++17 -fvisibility=hidden -fopenmp"; do
  for c in /opt/gcc/bin/g++ /usr/bin/g++; do
    [ -x "$c" ] || continue
    $c $flags -shared /tmp/fmt.cpp -o /tmp/fmt.so 2> /dev/null || { echo "$c $flags: build failed"; continue; }
    n=$(nm -C --defined-only /tmp/fmt.so | grep -c "_M_insert<long>")
    python3 -c "import ctypes; print(ctypes.CDLL('/tmp/fmt.so').fmt())" > /tmp/fmt.out 2>&1
    echo "$c $flags: rc $? out $(cat /tmp/fmt.out) (_M_insert<long> defined in .so: $n)"
    python3 -c "import torch, ctypes; print(ctypes.CDLL('/tmp/fmt.so').fmt())" > /tmp/fmt.out 2>&1
    echo "    after import torch: rc $? out $(tail -1 /tmp/fmt.out)"
  done
done
