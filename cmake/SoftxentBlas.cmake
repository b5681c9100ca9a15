# The BLAS behind the fused linear cross-entropy (SOFTXENT_BLAS):
#   BLIS   (default) Debian's BLIS (libblis-pthread-dev), its static archive, through bli_sgemm_ex
#          with a per-call runtime of one thread: each product runs on the calling thread, concurrent
#          calls from softxent's threads are safe, and no other BLAS in the process (an OpenBLAS the
#          application links) can take its place at run time.
#   CBLAS  any CBLAS through cblas_sgemm: SOFTXENT_CBLAS_LIBRARIES (files or -l flags) and
#          SOFTXENT_CBLAS_INCLUDE_DIR (where its cblas.h is); or, when the libraries are empty, what
#          FindBLAS finds (choose it with BLA_VENDOR). It must run each call on the calling thread (a
#          serial build, or its threads set to 1) and be safe to call from several threads at once,
#          for the results to be right and bitwise independent of softxent's thread count.
#          (Debian's serial OpenBLAS 0.3.21 is single-threaded but not safe to call concurrently.)
#   OFF    no BLAS: softxent_linear_cross_entropy_f32 returns SOFTXENT_ERROR_UNSUPPORTED_ISA and
#          its workspace query 0
# Sets SOFTXENT_BLAS_LINK (what the library links: paths, flags or Threads::Threads; exported to
# consumers), SOFTXENT_BLAS_INCLUDE_DIR and SOFTXENT_BLAS_DEFINITION.
set(SOFTXENT_BLAS "BLIS" CACHE STRING "BLAS of the fused linear cross-entropy: BLIS, CBLAS or OFF")
set_property(CACHE SOFTXENT_BLAS PROPERTY STRINGS BLIS CBLAS OFF)
set(SOFTXENT_CBLAS_LIBRARIES "" CACHE STRING "With SOFTXENT_BLAS=CBLAS: the CBLAS to link (empty: FindBLAS)")
set(SOFTXENT_CBLAS_INCLUDE_DIR "" CACHE PATH "With SOFTXENT_BLAS=CBLAS: the folder of its cblas.h")

set(SOFTXENT_BLAS_LINK "")
set(SOFTXENT_BLAS_INCLUDE_DIR "")
set(SOFTXENT_BLAS_DEFINITION "")
if(SOFTXENT_BLAS STREQUAL "BLIS")
  # Debian installs each BLIS build in its own folder; the pthread build's pools are locked.
  set(blis_folders blis-pthread blis-serial)
  set(blis_library_paths "")
  set(blis_include_paths "")
  foreach(folder IN LISTS blis_folders)
    list(APPEND blis_library_paths /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/${folder})
    list(APPEND blis_include_paths /usr/include/${CMAKE_LIBRARY_ARCHITECTURE}/${folder})
  endforeach()
  find_library(SOFTXENT_BLIS_LIBRARY NAMES libblis.a PATHS ${blis_library_paths} NO_DEFAULT_PATH)
  find_library(SOFTXENT_BLIS_LIBRARY NAMES libblis.a)
  find_path(SOFTXENT_BLIS_INCLUDE_DIR blis.h PATHS ${blis_include_paths} NO_DEFAULT_PATH)
  find_path(SOFTXENT_BLIS_INCLUDE_DIR blis.h PATH_SUFFIXES blis)
  if(NOT SOFTXENT_BLIS_LIBRARY OR NOT SOFTXENT_BLIS_INCLUDE_DIR)
    message(FATAL_ERROR "softxent: BLIS was not found (apt-get install libblis-pthread-dev); "
                        "or configure with -DSOFTXENT_BLAS=CBLAS (another CBLAS) or -DSOFTXENT_BLAS=OFF")
  endif()
  find_package(Threads REQUIRED)
  set(SOFTXENT_BLAS_LINK ${SOFTXENT_BLIS_LIBRARY} Threads::Threads m)
  set(SOFTXENT_BLAS_INCLUDE_DIR ${SOFTXENT_BLIS_INCLUDE_DIR})
  set(SOFTXENT_BLAS_DEFINITION SOFTXENT_BLAS_BLIS=1)
elseif(SOFTXENT_BLAS STREQUAL "CBLAS")
  if(SOFTXENT_CBLAS_LIBRARIES)
    set(SOFTXENT_BLAS_LINK ${SOFTXENT_CBLAS_LIBRARIES})
  else()
    find_package(BLAS REQUIRED)
    set(SOFTXENT_BLAS_LINK ${BLAS_LIBRARIES} ${BLAS_LINKER_FLAGS})
  endif()
  set(SOFTXENT_BLAS_INCLUDE_DIR ${SOFTXENT_CBLAS_INCLUDE_DIR})
  set(SOFTXENT_BLAS_DEFINITION SOFTXENT_BLAS_CBLAS=1)
elseif(NOT SOFTXENT_BLAS STREQUAL "OFF")
  message(FATAL_ERROR "softxent: SOFTXENT_BLAS must be BLIS, CBLAS or OFF (got ${SOFTXENT_BLAS})")
endif()
message(STATUS "softxent: fused linear cross-entropy BLAS: ${SOFTXENT_BLAS} ${SOFTXENT_BLAS_LINK}")
