# Driver of the consumer tests, run as `cmake -D... -P run_consumer.cmake [-- configure arguments]`.
#
# MODE=install: installs the build tree BINARY_DIR (configuration CONFIG) into a fresh PREFIX and
#   checks that the library (LIBRARY_FILE in LIBDIR), both headers (in INCLUDEDIR) and both package
#   files are there.
# Otherwise: configures the project SOURCE_DIR in BINARY_DIR with the arguments after `--`, builds
#   it, installs it into INSTALL_PREFIX if given, and runs each of PROGRAMS (comma-separated), all of
#   which must exit 0, through EMULATOR (a comma-separated command, for a cross build) if given.
cmake_minimum_required(VERSION 3.20)

function(run_step description)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE result)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "${description} failed (${result}): ${ARGN}")
  endif()
endfunction()

if(MODE STREQUAL "install")
  file(REMOVE_RECURSE ${PREFIX})
  set(config_arguments "")
  if(CONFIG)
    set(config_arguments --config ${CONFIG})
  endif()
  run_step("install" ${CMAKE_COMMAND} --install ${BINARY_DIR} --prefix ${PREFIX} ${config_arguments})
  foreach(expected IN ITEMS
      ${INCLUDEDIR}/softxent/softxent.h
      ${INCLUDEDIR}/softxent/softxent.hpp
      ${LIBDIR}/${LIBRARY_FILE}
      ${LIBDIR}/cmake/softxent/softxentConfig.cmake
      ${LIBDIR}/cmake/softxent/softxentConfigVersion.cmake
      ${LIBDIR}/cmake/softxent/softxentTargets.cmake
      ${LIBDIR}/pkgconfig/softxent.pc)
    if(NOT EXISTS ${PREFIX}/${expected})
      message(FATAL_ERROR "the install lacks ${expected}")
    endif()
  endforeach()
  return()
endif()

# The configure arguments are the script's arguments after `--`.
set(configure_arguments "")
set(after_separator FALSE)
math(EXPR last_argument "${CMAKE_ARGC} - 1")
foreach(index RANGE ${last_argument})
  if(after_separator)
    list(APPEND configure_arguments "${CMAKE_ARGV${index}}")
  elseif(CMAKE_ARGV${index} STREQUAL "--")
    set(after_separator TRUE)
  endif()
endforeach()

cmake_host_system_information(RESULT processors QUERY NUMBER_OF_LOGICAL_CORES)
run_step("configure" ${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${BINARY_DIR} ${configure_arguments})
run_step("build" ${CMAKE_COMMAND} --build ${BINARY_DIR} --parallel ${processors})
if(INSTALL_PREFIX)
  file(REMOVE_RECURSE ${INSTALL_PREFIX})
  run_step("install" ${CMAKE_COMMAND} --install ${BINARY_DIR} --prefix ${INSTALL_PREFIX})
endif()
string(REPLACE "," ";" programs "${PROGRAMS}")
string(REPLACE "," ";" emulator "${EMULATOR}")
foreach(program IN LISTS programs)
  run_step("running ${program}" ${emulator} ${BINARY_DIR}/${program})
endforeach()
