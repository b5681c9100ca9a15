# The two programs every CMake consumer builds against softxent::softxent: one using the C++ API, one
# written in C using the C API (CMake links it with the C++ driver, as the library is C++).
add_executable(consumer_cpp ${CMAKE_CURRENT_LIST_DIR}/consumer.cpp)
add_executable(consumer_c ${CMAKE_CURRENT_LIST_DIR}/consumer.c)
set_target_properties(consumer_c PROPERTIES C_STANDARD 99 C_STANDARD_REQUIRED ON C_EXTENSIONS OFF)
foreach(program IN ITEMS consumer_cpp consumer_c)
  target_link_libraries(${program} PRIVATE softxent::softxent)
  target_compile_definitions(${program} PRIVATE SOFTXENT_EXPECTED_VERSION="${SOFTXENT_EXPECTED_VERSION}")
  if(CMAKE_C_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${program} PRIVATE -Wall -Wextra -Wshadow -Wconversion -pedantic -Werror)
  endif()
endforeach()
find_package(Threads REQUIRED)
target_link_libraries(consumer_cpp PRIVATE Threads::Threads)
