# SOFTXENT_SANITIZE=address,undefined (or thread) instruments every target of the build.
if(SOFTXENT_SANITIZE)
  add_compile_options(-fsanitize=${SOFTXENT_SANITIZE} -fno-omit-frame-pointer -g)
  add_link_options(-fsanitize=${SOFTXENT_SANITIZE})
  if(SOFTXENT_SANITIZE MATCHES "undefined")
    add_compile_options(-fno-sanitize-recover=undefined)
  endif()
endif()
