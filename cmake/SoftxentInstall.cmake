# Install rules: the static library, both public headers, a CMake package
# (find_package(softxent CONFIG) -> softxent::softxent) and a pkg-config file (softxent.pc).
# Both package files are relocatable: they find the prefix from their own location, so
# `cmake --install build --prefix DIR` works for any DIR chosen at install time.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(SOFTXENT_CMAKE_PACKAGE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/softxent)

install(TARGETS softxent EXPORT softxentTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(FILES ${PROJECT_SOURCE_DIR}/include/softxent/softxent.h ${PROJECT_SOURCE_DIR}/include/softxent/softxent.hpp
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/softxent)
install(EXPORT softxentTargets NAMESPACE softxent:: DESTINATION ${SOFTXENT_CMAKE_PACKAGE_DIR})

# The exported target links OpenMP::OpenMP_CXX when SOFTXENT_OPENMP is on: the package config then
# finds OpenMP for the consumer (SOFTXENT_PACKAGE_OPENMP is substituted into it).
set(SOFTXENT_PACKAGE_OPENMP ${SOFTXENT_OPENMP})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/softxentConfig.cmake.in
  ${PROJECT_BINARY_DIR}/softxentConfig.cmake
  INSTALL_DESTINATION ${SOFTXENT_CMAKE_PACKAGE_DIR})
# Before 1.0 a minor release may change the API; from 1.0 on only a major release may.
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(SOFTXENT_VERSION_COMPATIBILITY SameMinorVersion)
else()
  set(SOFTXENT_VERSION_COMPATIBILITY SameMajorVersion)
endif()
write_basic_package_version_file(${PROJECT_BINARY_DIR}/softxentConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY ${SOFTXENT_VERSION_COMPATIBILITY})
install(FILES ${PROJECT_BINARY_DIR}/softxentConfig.cmake ${PROJECT_BINARY_DIR}/softxentConfigVersion.cmake
  DESTINATION ${SOFTXENT_CMAKE_PACKAGE_DIR})

# pkg-config. libsoftxent.a is C++ (and OpenMP when enabled): a C program linking it needs the C++
# runtime, libm and the OpenMP runtime. As there is no shared library to carry those dependencies,
# they go in Libs, so that a plain `pkg-config --libs softxent` links.
set(SOFTXENT_PC_DEPENDENCY_LIBS "")
if(SOFTXENT_OPENMP)
  # Name the very runtime the library was built against (libgomp for g++, libomp for clang), so that
  # a consumer compiled with another compiler still links the right one.
  foreach(openmp_library IN LISTS OpenMP_CXX_LIBRARIES)
    get_filename_component(openmp_library_name ${openmp_library} NAME_WE)
    string(REGEX REPLACE "^lib" "" openmp_library_name ${openmp_library_name})
    if(openmp_library_name STREQUAL "pthread")
      string(APPEND SOFTXENT_PC_DEPENDENCY_LIBS " -pthread")
    elseif(IS_ABSOLUTE ${openmp_library})
      get_filename_component(openmp_library_dir ${openmp_library} DIRECTORY)
      string(APPEND SOFTXENT_PC_DEPENDENCY_LIBS " -L${openmp_library_dir} -l${openmp_library_name}")
    else()
      string(APPEND SOFTXENT_PC_DEPENDENCY_LIBS " -l${openmp_library_name}")
    endif()
  endforeach()
endif()
# The BLAS of the fused linear cross-entropy: files by their path, flags as they are, Threads as -pthread.
foreach(blas_item IN LISTS SOFTXENT_BLAS_LINK)
  if(blas_item STREQUAL "Threads::Threads")
    string(APPEND SOFTXENT_PC_DEPENDENCY_LIBS " -pthread")
  elseif(NOT blas_item STREQUAL "m")  # -lm ends the line anyway
    string(APPEND SOFTXENT_PC_DEPENDENCY_LIBS " ${blas_item}")
  endif()
endforeach()
string(APPEND SOFTXENT_PC_DEPENDENCY_LIBS " -lstdc++ -lm")
# Directories relative to the .pc file's own, so the install can move; absolute ones stay as given.
if(IS_ABSOLUTE ${CMAKE_INSTALL_LIBDIR} OR IS_ABSOLUTE ${CMAKE_INSTALL_INCLUDEDIR})
  set(SOFTXENT_PC_PREFIX ${CMAKE_INSTALL_PREFIX})
  set(SOFTXENT_PC_LIBDIR ${CMAKE_INSTALL_FULL_LIBDIR})
  set(SOFTXENT_PC_INCLUDEDIR ${CMAKE_INSTALL_FULL_INCLUDEDIR})
else()
  file(RELATIVE_PATH SOFTXENT_PC_PREFIX_FROM_PCFILEDIR /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)
  string(REGEX REPLACE "/$" "" SOFTXENT_PC_PREFIX_FROM_PCFILEDIR ${SOFTXENT_PC_PREFIX_FROM_PCFILEDIR})
  set(SOFTXENT_PC_PREFIX "\${pcfiledir}/${SOFTXENT_PC_PREFIX_FROM_PCFILEDIR}")
  set(SOFTXENT_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
  set(SOFTXENT_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
configure_file(${CMAKE_CURRENT_LIST_DIR}/softxent.pc.in ${PROJECT_BINARY_DIR}/softxent.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/softxent.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
