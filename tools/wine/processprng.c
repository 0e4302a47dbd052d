/* bcryptprimitives.dll shim for Wine 8.0 (PITFALLS): Rust >= 1.78 programs
 * import ProcessPrng, which this Wine lacks; forward it to RtlGenRandom
 * (advapi32!SystemFunction036). Test machines only — never shipped. */
#include <windows.h>
BOOLEAN WINAPI SystemFunction036(PVOID buf, ULONG len);
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!SystemFunction036(data, n)) return FALSE;
        data += n;
        len -= n;
    }
    return TRUE;
}
