# softxent_warnings(target): the project's warning set, errors when SOFTXENT_WARNINGS_AS_ERRORS.
function(softxent_warnings target)
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wshadow
      $<$<COMPILE_LANGUAGE:CXX>:-Wconversion -Wsign-conversion -Wnon-virtual-dtor>
      $<$<COMPILE_LANGUAGE:C>:-Wconversion>)
    if(SOFTXENT_WARNINGS_AS_ERRORS)
      target_compile_options(${target} PRIVATE -Werror)
    endif()
  endif()
endfunction()
